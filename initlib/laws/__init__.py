"""The laws: initializers, fans, gains, variance schemes and module-aware initialization."""
