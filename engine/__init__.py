"""Portrait Studio engine: photo intake, LoRA training, generation and finishing (torch stays out of this file)."""
