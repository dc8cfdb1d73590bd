"""The core room: tensors only (no Ray, no reports). Datasets and their validation splits, models,
augmentation, the synthetic set and how stored images decode to training images, training, evaluation."""
