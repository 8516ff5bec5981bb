export { AttachmentConverter, conversionFor, DEFAULT_CONVERSION_TIMEOUT_MS, DEFAULT_MP3_BITRATE_KBPS, type ConversionStats } from './attachment-converter';
export { MediaPool, type MediaPoolOptions } from './media-pool';
export { tiffToPdf } from './tiff-to-pdf';
export { wavToMp3 } from './wav-to-mp3';
