#!/bin/sh
# make demo: the main job on a bundled synthetic demo, offline.
#  1. a Zipf-distributed word corpus (corpora/demo/corpus.txt, generated),
#  2. a small GPT-2-shaped model (D 256, 4 layers) with a byte-level BPE
#     tokenizer trained on that corpus, whose final LayerNorm plants two known
#     outlier dimensions (dim 17 at +8, dim 142 at -6) and whose unembedding
#     columns for them promote the corpus's frequent tokens — synthetic,
#     for showing the pipeline, not a finding about any real model,
#  3. odscope scan (ODs, their tokens), odscope tokens for the top OD, and
#     odscope ablate with Macocco's word:5 protocol, on db/demo.sqlite.
set -e
PY=/usr/bin/python3
D=corpora/demo
mkdir -p $D db
if [ ! -f $D/corpus.txt ]; then
	$PY tests/py/gen_corpus.py corpus --out $D/corpus.txt --lines 4000 --seed 7
fi
if [ ! -f $D/model/model.safetensors ]; then
	$PY tests/py/gen_model.py --out $D/model --n-embd 256 --n-layer 4 --n-head 8 \
		--n-positions 256 --vocab 1024 --corpus $D/corpus.txt \
		--plant 17:8 --plant 142:-6 --plant-unembed --plant-rank corpus --seed 7
fi
rm -f db/demo.sqlite
./odscope info --model $D/model
./odscope scan --model $D/model --corpus $D/corpus.txt --db db/demo.sqlite
./odscope tokens --db db/demo.sqlite --dim 17 --top 5
./odscope ablate --db db/demo.sqlite --random 5 --positions word:5
./odscope runs --db db/demo.sqlite
