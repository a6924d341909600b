#!/usr/bin/env node
// Makes examples/astronaut-pan.mp4: 8 s at 30 fps, 640x480, H.264. A virtual camera pans and zooms over
// the astronaut photo (examples/astronaut.png, NASA, public domain); frames 150-161 (0.4 s) cut to
// scikit-image's coffee.png (no face), so the clip also has frames without a face and a gap the tracker
// must bridge. Needs python3-skimage's coffee.png (MOODLENS_SKIMAGE_DATA overrides its folder) and ffmpeg
// (FFMPEG_PATH, else the @ffmpeg-installer binary). Usage: node scripts/make-example-video.mjs [out.mp4]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(root, 'examples', 'astronaut-pan.mp4');
const skimage = process.env.MOODLENS_SKIMAGE_DATA ?? '/usr/lib/python3/dist-packages/skimage/data';
const ffmpeg = process.env.FFMPEG_PATH || createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg').path;

// The photo is scaled to 1024x1024 and cut to 4:3 (1024x768, the face near x=448, y=226); zoompan's
// window (1024/z x 768/z, z = 1.05-1.55) sways 110 px sideways and 60 px down, scaled to 640x480.
const filter = [
  "[0:v]scale=1024:1024,crop=1024:768:0:0,zoompan=z='1.3+0.25*sin(2*PI*on/240)'" +
    ":x='448-iw/zoom/2+110*sin(2*PI*on/160)':y='30*(1-cos(2*PI*on/240))':d=1:s=640x480:fps=30[a]",
  '[1:v]scale=640:480,setsar=1[c]',
  "[a][c]overlay=enable='between(n,150,161)'[v]",
].join(';');

execFileSync(
  ffmpeg,
  [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-loop',
    '1',
    '-framerate',
    '30',
    '-i',
    join(root, 'examples', 'astronaut.png'),
    '-loop',
    '1',
    '-framerate',
    '30',
    '-i',
    join(skimage, 'coffee.png'),
    '-filter_complex',
    filter,
    '-map',
    '[v]',
    '-frames:v',
    '240',
    '-c:v',
    'libx264',
    '-preset',
    'slow',
    '-crf',
    '26',
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    out,
  ],
  { stdio: 'inherit' },
);
process.stdout.write(`wrote ${out}\n`);
