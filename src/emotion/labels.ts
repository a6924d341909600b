/**
 * The seven FER-2013 emotions in the data set's class order: index i of a FER label (and of the logits of
 * a model trained on it) is `EMOTION_LABELS[i]`. Models state their own order in their metadata; this
 * tuple is the order of the data sets, of the confusion matrices and of every `scores` record.
 */
export const EMOTION_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;

export type Emotion = (typeof EMOTION_LABELS)[number];

/** Whether `value` is one of the seven emotion names (lower case, as in EMOTION_LABELS). */
export function isEmotion(value: unknown): value is Emotion {
  return typeof value === 'string' && (EMOTION_LABELS as readonly string[]).includes(value);
}

/** The FER-2013 class index (0-6) of an emotion. */
export function emotionIndex(emotion: Emotion): number {
  return EMOTION_LABELS.indexOf(emotion);
}
