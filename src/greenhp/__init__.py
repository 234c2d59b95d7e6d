"""greenhp: hyperparameter-energy studies of deep-learning training."""

__version__ = "0.1.0"
