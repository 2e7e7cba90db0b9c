"""Shared machinery of the learned synthetic-data generators: models, sampling, sharding, training, data, evals."""
