"""A small byte-level BPE tokenizer saved as a Hugging Face tokenizer folder, so that aiperf
can build its synthetic prompts without downloading one (no network needed).

    python make_tokenizer.py OUT_DIR
"""

import glob
import sys

import aiperf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=4000,
    special_tokens=["<unk>", "<s>", "</s>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
)
# Any text will do: aiperf's own sources, which are installed wherever it is.
files = sorted(glob.glob(f"{aiperf.__path__[0]}/**/*.py", recursive=True))[:300]
tok.train(files, trainer)
PreTrainedTokenizerFast(
    tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
).save_pretrained(sys.argv[1])
