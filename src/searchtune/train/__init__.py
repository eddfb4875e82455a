"""Training: rows from judgments, the trainer, hard negatives, rounds (ANCE), model soups, typo copies."""
