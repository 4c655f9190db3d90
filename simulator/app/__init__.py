"""A local web page to negotiate contract terms live on the paths of a stored run (``vbcsim app``)."""
