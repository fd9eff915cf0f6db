"""One module per benchmark family; each defines an `Evaluator` subclass (see `unipixel.eval.runner`)."""
