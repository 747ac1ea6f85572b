"""Helpers for tools/model_corpus.py: input generators and the YOLOv8-shaped test model."""
