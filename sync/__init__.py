"""simapp-sync: keep the DeepRacer community simapp in sync with its upstream image."""

__version__ = "0.1.0"
