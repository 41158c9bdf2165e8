"""The page's application core, free of the browser: the batch and its state machine
(:mod:`matte.app.batch`). :mod:`matte.web` is the only glue that adds ``js`` and proxies."""
