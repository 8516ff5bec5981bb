export { Renderer, assertSafe, TEMPLATE_PARTS, type RenderedMail, type TemplatePart } from './renderer';
export { buildContext, formatDuration, formatSize, formatWhen, safeFilename, type TemplateContext } from './context';
