"""Training on verified snapshots, and audits of the models trained (``audit``,
``canaries``). torch and transformers are optional (``pip install 'optin[train]'``):
the modules import without them and say how to install them when they are needed."""
