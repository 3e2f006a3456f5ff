"""Review and correction of decisions (docs/REVIEW.md): evidence of doubtful decisions
(keep.py, kept by FaceService), the review queue (service.Review) and unknown faces
grouped by stranger (clustering.py). Nothing is imported here: facedb.service imports
keep.py, and service.py imports facedb.service."""
