"""Stable reject codes and every sentence intake shows a user, in one place."""

from __future__ import annotations

from i18n import Msg

from enum import StrEnum


class RejectCode(StrEnum):
    unreadable = "unreadable"
    not_an_image = "not_an_image"
    corrupt = "corrupt"
    unsupported_format = "unsupported_format"
    file_too_large = "file_too_large"
    too_many_pixels = "too_many_pixels"
    too_small = "too_small"
    animated = "animated"
    screenshot = "screenshot"
    screen_photo = "screen_photo"
    no_face = "no_face"
    multiple_faces = "multiple_faces"
    face_too_small = "face_too_small"
    face_cut_off = "face_cut_off"
    blurry = "blurry"
    too_dark = "too_dark"
    overexposed = "overexposed"
    duplicate = "duplicate"
    different_person = "different_person"
    too_many_photos = "too_many_photos"


class PhotoWarning(StrEnum):
    """Things worth telling the user about a photo that is still accepted."""

    maybe_screenshot = "maybe_screenshot"
    maybe_screen_photo = "maybe_screen_photo"
    background_faces = "background_faces"


MESSAGES: dict[RejectCode, str] = {
    RejectCode.unreadable: Msg("I couldn't read this file. Please send it again."),
    RejectCode.not_an_image: Msg("This file isn't a photo. Please send a JPEG, PNG, HEIC or WebP picture."),
    RejectCode.corrupt: Msg("This photo seems damaged or only partly uploaded. Please send it again."),
    RejectCode.unsupported_format: (
        Msg("I can't use this file type. Please send the photo as JPEG, PNG, HEIC or WebP.")
    ),
    RejectCode.file_too_large: Msg("This file is too large. Please send a smaller copy of the photo."),
    RejectCode.too_many_pixels: (
        Msg("This picture has more pixels than I can take (like a phone's 108 or 200 MP mode). Send it as a "
        "photo rather than a file, so the app shrinks it, or take it in the camera's normal mode.")
    ),
    RejectCode.too_small: (
        Msg("This photo is too small to learn your face from. Please send the original, full-size photo "
        "(as a file, not a compressed preview).")
    ),
    RejectCode.animated: Msg("This is an animation. Please send a still photo instead."),
    RejectCode.screenshot: (
        Msg("This looks like a screenshot. Please send the original photo from your camera roll instead.")
    ),
    RejectCode.screen_photo: Msg("This looks like a photo of a screen. Please send the original photo instead."),
    RejectCode.no_face: (
        Msg("I couldn't find a face in this photo. Please send a photo where your face is clearly visible, "
        "looking roughly towards the camera.")
    ),
    RejectCode.multiple_faces: (
        Msg("There is more than one person in this photo. Please send photos of just you.")
    ),
    RejectCode.face_too_small: (
        Msg("Your face is too small in this photo. Please step closer or crop so your face fills more of the frame.")
    ),
    RejectCode.face_cut_off: (
        Msg("Your face is cut off by the edge of the photo. Please send one with your whole head in the frame.")
    ),
    RejectCode.blurry: Msg("Your face is blurry in this photo. Please hold still, use more light, and tap to focus."),
    RejectCode.too_dark: Msg("Your face is too dark in this photo. Please face a window or a lamp and try again."),
    RejectCode.overexposed: (
        Msg("Your face is washed out by too much light. Please avoid direct flash or harsh sun on your face.")
    ),
    RejectCode.duplicate: (
        Msg("This photo is almost the same as one you already sent. Please send a different shot "
        "(another angle, expression or place).")
    ),
    RejectCode.different_person: (
        Msg("This person doesn't look like the one in your other photos. Please send photos of only yourself.")
    ),
    RejectCode.too_many_photos: Msg("You already have plenty of good photos, so I'll skip this one."),
}

LABELS: dict[RejectCode, str] = {
    RejectCode.unreadable: Msg("unreadable file"),
    RejectCode.not_an_image: Msg("not a photo"),
    RejectCode.corrupt: Msg("damaged file"),
    RejectCode.unsupported_format: Msg("unsupported file type"),
    RejectCode.file_too_large: Msg("file too large"),
    RejectCode.too_many_pixels: Msg("far too many pixels"),
    RejectCode.too_small: Msg("too small"),
    RejectCode.animated: Msg("animation"),
    RejectCode.screenshot: Msg("screenshot"),
    RejectCode.screen_photo: Msg("photo of a screen"),
    RejectCode.no_face: Msg("no face found"),
    RejectCode.multiple_faces: Msg("more than one face"),
    RejectCode.face_too_small: Msg("face too small"),
    RejectCode.face_cut_off: Msg("face cut off"),
    RejectCode.blurry: Msg("blurry"),
    RejectCode.too_dark: Msg("too dark"),
    RejectCode.overexposed: Msg("too bright"),
    RejectCode.duplicate: Msg("same as another photo"),
    RejectCode.different_person: Msg("a different person"),
    RejectCode.too_many_photos: Msg("set already full"),
}

TIPS: dict[RejectCode, str] = {
    RejectCode.too_small: Msg("Send photos as files so they keep their full size."),
    RejectCode.screenshot: Msg("Send original photos, not screenshots."),
    RejectCode.screen_photo: Msg("Send the original photos, not pictures of a screen."),
    RejectCode.no_face: Msg("Make sure your face is clearly visible in every photo."),
    RejectCode.multiple_faces: Msg("Only you in the picture: crop out friends."),
    RejectCode.face_too_small: Msg("Close-ups and head-and-shoulders shots work best."),
    RejectCode.face_cut_off: Msg("Keep your whole head in the frame."),
    RejectCode.blurry: Msg("Hold still and shoot in good light."),
    RejectCode.too_dark: Msg("Face a window or soft light."),
    RejectCode.overexposed: Msg("Avoid direct flash and harsh sun."),
    RejectCode.duplicate: Msg("Vary angles, expressions and backgrounds."),
    RejectCode.different_person: Msg("Only photos of yourself."),
}

ACCEPTED_MESSAGE = Msg("This photo looks great!")

GENERAL_TIP = (
    Msg("Tip: good light, different angles and expressions, a few backgrounds, and no sunglasses or hats.")
)

WARNING_MESSAGES: dict[PhotoWarning, str] = {
    PhotoWarning.maybe_screenshot: Msg("This might be a screenshot; the original photo works better."),
    PhotoWarning.maybe_screen_photo: Msg("This might be a photo of a screen; the original photo works better."),
    PhotoWarning.background_faces: Msg("There are other faces in the background; photos of just you work best."),
}


def message_for(code: RejectCode) -> str:
    """The refusal in English, as a check records it (the operator's CLI, the database); a user is
    told ``said_for`` in their language."""
    return MESSAGES[code].source


def said_for(code: RejectCode) -> Msg:
    return MESSAGES[code]


def label_for(code: RejectCode) -> str:
    return LABELS[code].source
