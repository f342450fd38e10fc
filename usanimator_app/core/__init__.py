"""Qt-free, torch-free core: media readers, preprocessing, annotations, phantom, export."""
