"""The real-world corpus: real objects from real libraries, with live ground truth.

``objects.ENTRIES`` lists them; ``truth`` runs the real backends on each; the tests in
``test_realworld`` compare ``picklecheck.check`` with that truth. Install the libraries
with ``pip install -e '.[realworld]'``; entries whose library is missing are skipped.
"""
