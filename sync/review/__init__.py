"""The review of an upstream bump (``sync report``): gathered from the repository
(``collect``), written as a pull request body (``markdown``) or one self-contained page
(``page``)."""
