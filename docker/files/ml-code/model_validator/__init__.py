"""Validates a DeepRacer model before it is imported: SageMaker inference endpoint (`serve`)."""
