"""The clinician-facing web demo. It calls medjourney_core and holds no model logic of its own."""
