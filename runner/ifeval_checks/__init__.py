"""IFEval's verifiable instructions: one verifier per instruction id, and strict/loose following.

Our own implementation of the reference checkers (google-research `instruction_following_eval`), so the
engine does not import lm-evaluation-harness at run time; see `verifiers` for where it deliberately
differs and `text` for how sentence splitting and language detection work offline.
"""
from runner.ifeval_checks.following import InstructionVerdict, check_instructions, follows, loose_variants
from runner.ifeval_checks.verifiers import VERIFIERS

__all__ = ["VERIFIERS", "InstructionVerdict", "check_instructions", "follows", "loose_variants"]
