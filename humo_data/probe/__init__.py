"""The probe stage (stage.py); probing a file lives in humo_data/media/probe.py."""
