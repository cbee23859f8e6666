"""Hospital connectivity in the GUI: the PACS dialog, the Studies browser and Send to PACS (docs/pacs.md)."""
