"""``kubectl mlops``: a kubectl plugin for the mlops.dev kinds (get, promote, abort, undo,
history, diff, status). It talks to the cluster through kubectl itself, so the user's
kubeconfig, context and namespace flags mean what they mean for kubectl."""
