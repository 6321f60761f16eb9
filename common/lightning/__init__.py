from .module import ClassificationModule, NonFiniteLossError

__all__ = ["ClassificationModule", "NonFiniteLossError"]
