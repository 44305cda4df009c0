"""Writes the golden fixture that tests/models/test_bert.py compares jtransfer's encoder with.

The reference is PyTorch: ``transformers.BertModel`` (last hidden states) and
``sentence_transformers.SentenceTransformer`` (mean-pooled, L2-normalised embeddings), both
read from the shared all-MiniLM-L6-v2 folder, plus the ``transformers`` fast tokenizer's ids.
PyTorch is not a jtransfer dependency: run this from the throw-away peers venv (README,
"Language models")::

    python3 -m venv /work/peers-lm
    /work/peers-lm/bin/pip install torch==2.13.0 transformers sentence-transformers peft \
        numpy safetensors tokenizers
    /work/peers-lm/bin/python scripts/make_lm_golden.py [--model-dir DIR]

Output (committed, ~370 KB): ``tests/models/fixtures/minilm_golden.json`` (sentences, versions,
max_length) and ``minilm_golden_{input_ids,attention_mask,token_type_ids,last_hidden,pooled}.npy``.
To stay small the last hidden states are float32 at max_length 32, all sentences and positions,
but only every third channel (``HIDDEN_CHANNELS``); the pooled embeddings keep all 384.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import transformers
from sentence_transformers import SentenceTransformer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MAX_LENGTH = 32
HIDDEN_CHANNELS = slice(0, None, 3)  # channels of last_hidden kept in the fixture

SENTENCES = [
    "Hello world!",
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog.",
    "I absolutely loved this book; the characters felt real and the ending surprised me.",
    "Terrible product. It broke after two days, and customer service never answered my "
    "emails, calls, or letters, so I would not recommend it to anyone who values their "
    "money or their time, really not at all.",
    "Déjà vu: café, naïve, résumé — façade!",
    "東京は日本の首都です。",
    "Emoji test 😀👍 and symbols: $5.99, 100%, #1, @user, e-mail@example.com",
    "UPPER CASE and lower case AND MiXeD CaSe",
    "a",
    "?!?!...;;;:::---",
    "Numbers 3.14159 and 2,718 and 1e-10 and 42nd",
    "Short.",
    "The kitchen blender is loud but powerful, and it crushes ice in seconds.",
    "This DVD was a waste of money: the picture quality is poor and the sound is worse.",
    "Привет, как дела? Это тест на русском языке.",
    "",
    "   leading and trailing spaces   ",
    "tab\tseparated\nnew line",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default=os.environ.get(
        "JTRANSFER_MANUAL_DIR", os.path.join(ROOT, "..", "shared", "data")) + "/minilm_l6_v2")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "models", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    tok = transformers.AutoTokenizer.from_pretrained(args.model_dir)
    enc = tok(SENTENCES, padding="max_length", truncation=True, max_length=MAX_LENGTH,
              return_tensors="pt")
    model = transformers.BertModel.from_pretrained(args.model_dir, add_pooling_layer=False)
    model.eval()
    with torch.no_grad():
        last = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                     token_type_ids=enc["token_type_ids"]).last_hidden_state.numpy()

    st = SentenceTransformer(args.model_dir, device="cpu")
    st.max_seq_length = MAX_LENGTH
    pooled = st.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True,
                       normalize_embeddings=False)  # the Normalize module is in modules.json

    # Cross-check the two PyTorch paths: mean pool + normalise of BertModel == SentenceTransformer
    m = enc["attention_mask"].numpy()[..., None].astype(np.float32)
    mean = (last * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    print("BertModel mean-pool vs SentenceTransformer max abs diff:",
          float(np.abs(mean - pooled).max()))

    os.makedirs(args.out, exist_ok=True)
    arrays = {"input_ids": enc["input_ids"].numpy().astype(np.int32),
              "attention_mask": enc["attention_mask"].numpy().astype(np.int32),
              "token_type_ids": enc["token_type_ids"].numpy().astype(np.int32),
              "last_hidden": last[..., HIDDEN_CHANNELS].astype(np.float32),
              "pooled": pooled.astype(np.float32)}
    for k, v in arrays.items():
        np.save(os.path.join(args.out, f"minilm_golden_{k}.npy"), v)
    meta = {"sentences": SENTENCES, "max_length": MAX_LENGTH, "last_hidden_channels": "0::3",
            "reference": "transformers.BertModel last_hidden_state; "
                         "sentence_transformers.SentenceTransformer.encode (mean, normalised)",
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "sentence_transformers": __import__("sentence_transformers").__version__},
            "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    with open(os.path.join(args.out, "minilm_golden.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)
    print("wrote", args.out, {k: v.shape for k, v in arrays.items()})


if __name__ == "__main__":
    main()
