"""dancegen: personalized motion transfer for videos of people (Zhou et al., Dance Dance Generation)."""

__version__ = "0.1.0"
