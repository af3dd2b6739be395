"""The science core: concepts and their images, the VDM and its U-Net, configs, the run folder, training and
sampling. Imports nothing above it (analysis, views, ui)."""
