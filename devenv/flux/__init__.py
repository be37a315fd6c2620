"""Reading, rewriting and rendering Flux objects offline."""
