"""Entry point of the MedJourney demo (also the Hugging Face Space's app_file)."""

from app.main import main

if __name__ == "__main__":
    main()
