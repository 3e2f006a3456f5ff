"""Review and correction of decisions (docs/REVIEW.md): evidence of doubtful decisions
(keep.py, kept by usecases/verification.py), the review queue (service.Review) and
unknown faces grouped by stranger (clustering.py). Nothing is imported here:
facedb.usecases imports keep.py, and service.py imports facedb.service."""
