"""BFCL v4: data (from the bfcl-eval wheel), the checker, result-file scoring."""

from .checker import (CheckerError, GroundTruthError, Verdict, check_calls, check_relevance, gold_calls,
                      ground_truth_defects, infer_category, possible_answer_from_calls, score_entry, standardize_string)
from .data import (AST_CATEGORIES, CATEGORY_GROUP, RELEVANCE_CATEGORIES, SUPPORTED_CATEGORIES, BFCLDataError,
                   BFCLEntry, bfcl_data_version, find_data_dir, load_category)
from .score import ScoreReport, score_result_lines, score_results_file, write_verdicts

__all__ = [
    "AST_CATEGORIES", "BFCLDataError", "BFCLEntry", "CATEGORY_GROUP", "CheckerError", "GroundTruthError", "RELEVANCE_CATEGORIES",
    "SUPPORTED_CATEGORIES", "ScoreReport", "Verdict", "bfcl_data_version", "check_calls", "check_relevance",
    "find_data_dir", "gold_calls", "ground_truth_defects", "infer_category", "load_category", "possible_answer_from_calls", "score_entry",
    "score_result_lines", "score_results_file", "standardize_string", "write_verdicts",
]
