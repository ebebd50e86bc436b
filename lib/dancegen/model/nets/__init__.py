"""The networks: generators ``g`` / ``G``, multi-scale discriminators, VGG19 features, SP encoders."""
