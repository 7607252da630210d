"""Training: data preparation from MIMIC-CXR-style trees and the two-stage curriculum."""
