"""Training: saliency targets, the sampler losses, and the trainers (torchrun/DDP-aware)."""
