"""One sub-package per cloud: its declaration (providers/targets.py), catalog data, price refresh
and SDK calls. `providers/registered.py` lists the clouds."""
