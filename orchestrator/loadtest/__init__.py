"""Load testing a deployed endpoint (`infra bench`): open-loop Poisson arrivals of streaming chat
completions shaped like the profile's traffic, and the figures they measure. Each kind reaches its
endpoint through a transport (transport.py): plain HTTP, or a managed endpoint's invoke API.

Why our own small asyncio generator (httpx, already installed) rather than a well-kept one; checked
on 2026-12-03 with `pip download` / `pip install --dry-run --report` against PyPI:

- guidellm 0.8.1 has a library entry point with Poisson rates, but resolves to 97 packages
  including torch (with its CUDA wheels), transformers, datasets and pandas, and builds its
  synthetic prompts with a Hugging Face tokenizer (`PreTrainedTokenizer`), fetched from the Hub:
  far too heavy for a dependency of a CLI that starts in 0.3 s, and not offline.
- NVIDIA aiperf 0.13.0 resolves to 139 packages (transformers, datasets, pandas, scipy,
  matplotlib, dash, plotly, kubernetes-asyncio, pyzmq, textual ...) and is driven as a CLI.
- kubernetes-sigs inference-perf 0.7.0 requires Python >= 3.12 (the toolkit supports 3.11) and
  pins transformers==5.13.0: pip finds no installable version here.

What we need of them is small: Poisson arrivals, one streaming request per arrival, first-token
and last-token times, and percentiles; prompts are sized in words (about a token each in the
BPE vocabularies of the served models) because no tokenizer can be fetched offline.
"""
