"""Photo intake: decode what phones send, refuse what would spoil training (and say why), and
build the training set. Pure CPU; never imports torch (the bot process imports this package)."""

from engine.intake.config import IntakeConfig
from engine.intake.dataset import PlannedCrop, TrainingExample, accepted_photos, plan_crops, prepare_dataset, write_dataset
from engine.intake.faces import FaceBox, detect_faces, face_distance, face_embedding
from engine.intake.photo import PhotoCheck, check_photo
from engine.intake.photoset import PhotoVerdict, SetReport, check_set
from engine.intake.reasons import PhotoWarning, RejectCode, message_for
from engine.intake.stored import StoredPhoto, judge_stored, stored_check

__all__ = [
    "FaceBox",
    "IntakeConfig",
    "PhotoCheck",
    "PhotoVerdict",
    "PhotoWarning",
    "PlannedCrop",
    "RejectCode",
    "SetReport",
    "StoredPhoto",
    "TrainingExample",
    "accepted_photos",
    "check_photo",
    "check_set",
    "detect_faces",
    "face_distance",
    "face_embedding",
    "judge_stored",
    "message_for",
    "plan_crops",
    "prepare_dataset",
    "stored_check",
    "write_dataset",
]
