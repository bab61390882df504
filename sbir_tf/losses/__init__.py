"""Loss functions, one module per paper: ``fg`` (Pang et al. 2017) and ``wadcmsn`` (Xu, Hu, Cai)."""
