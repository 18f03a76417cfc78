"""What to audit: importing the app, running its lifespan, and knowing its routes."""
