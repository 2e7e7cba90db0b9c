"""NOMAD: a teacher fine-tuned without prompt masking that writes whole conversations (Chen et al.)."""
