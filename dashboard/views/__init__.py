"""Customer pages (session login), one module per page group; dashboard/urls.py routes them."""
