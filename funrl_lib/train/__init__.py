"""Training: the FunRL/EGPO method on TRL (``egpo``), one config per recipe (``config``), model loading for Unsloth,
PEFT and the tiny local model (``models``, ``tiny``), the rows every stage reads (``data``), the ``funrl sft`` /
``funrl train`` runners (``run``) and the curves (``plots``).

Nothing here imports torch or TRL at package import time; ``from funrl_lib.train.egpo import EntropyGRPOTrainer``
builds the trainer on ``trl.GRPOTrainer`` as it is at that moment (import Unsloth first to get its patched one).
"""
