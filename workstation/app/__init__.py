"""The application: the composition root, services behind the window and their Qt wiring."""
