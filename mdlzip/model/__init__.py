"""The byte transformer: one config, a float model for training and an integer model for coding."""
