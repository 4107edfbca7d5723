"""The evaluation engine: backends, task specs, prompts and scoring. Plain Python, no Django."""
